"""Exercises are numbered per chapter: every page that has exercises starts at Exercise 1."""
import re


def test_exercises_restart_at_one_on_every_chapter(built_book):
    pages = sorted((built_book / "notebooks").glob("*.html"))
    seen = 0
    for page in pages:
        html = page.read_text(encoding="utf-8")
        numbers = sorted({int(n) for n in re.findall(r"Exercise (\d+)(?![.\d])", html)})
        if numbers:
            seen += 1
            assert numbers == list(range(1, len(numbers) + 1)), (page.name, numbers)
    assert seen >= 5, "expected exercises on most chapter pages"
