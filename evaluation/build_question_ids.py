"""Fill each question's `relevant_ids` from its `relevant_docs`, as local/corpus.py computes them.

`python -m evaluation.build_question_ids [--questions FILE] [--corpus DIR]`: rewrites the file in
place, keeping every other field and the line order. Run it after adding questions, or after
renaming a document or changing its `link`, since both change its `document_id`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from local.corpus import CorpusError, parse_document

EVALUATION = Path(__file__).resolve().parent
QUESTIONS = EVALUATION / "questions.jsonl"
CORPUS = EVALUATION / "corpus"


def document_ids(corpus: Path, relevant_docs: list[str]) -> list[str]:
    """The payload `document_id` of each path under `corpus`, in the same order."""
    ids = []
    for relative in relevant_docs:
        document = parse_document(corpus / relative)
        if document is None:
            raise CorpusError(f"{relative}: no front matter, so it is not a document")
        ids.append(document.document_id)
    return ids


def rebuild(questions: Path, corpus: Path) -> int:
    """Rewrite `questions` with fresh ids; returns the number of questions."""
    lines = []
    for number, line in enumerate(questions.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        question = json.loads(line)
        try:
            question["relevant_ids"] = document_ids(corpus, question["relevant_docs"])
        except (CorpusError, OSError) as err:
            raise CorpusError(f"{questions.name} line {number}: {err}") from None
        lines.append(json.dumps(question, ensure_ascii=False))
    questions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m evaluation.build_question_ids")
    parser.add_argument("--questions", type=Path, default=QUESTIONS, help="JSON Lines file")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="folder the paths are under")
    args = parser.parse_args(argv)
    try:
        count = rebuild(args.questions, args.corpus)
    except CorpusError as err:
        sys.exit(f"error: {err}")
    print(f"{count} questions in {args.questions} now carry their document ids")


if __name__ == "__main__":
    main()
