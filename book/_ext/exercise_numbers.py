"""Number exercises per chapter: "Exercise 1, 2, ..." restart on every page.

Sphinx numbers enumerable nodes (sphinx-exercise's exercises) across the whole book when
the table of contents is not numbered, so chapter 01 would start at "Exercise 3". After
Sphinx has assigned the numbers, this renumbers the figure type ``exercise`` within each
document, in the order Sphinx gave them; solutions and references use the same table, so
"Solution to Exercise 1" follows.
"""

from __future__ import annotations


def _renumber(app, env):
    for numbers in env.toc_fignumbers.values():
        table = numbers.get("exercise")
        if not table:
            continue
        ordered = sorted(table.items(), key=lambda item: item[1])
        numbers["exercise"] = {key: (i,) for i, (key, _) in enumerate(ordered, start=1)}
    return []


def setup(app):
    # after Sphinx's own TocTreeCollector (priority 500) has assigned the figure numbers
    app.connect("env-get-updated", _renumber, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
