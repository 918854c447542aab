"""`make eval`: a labelled question set run through the API, scored, one config against another."""
