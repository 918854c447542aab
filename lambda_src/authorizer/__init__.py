"""Lambda REQUEST authorizer mapping OpenAI-style bearer keys to API Gateway usage-plan keys."""
