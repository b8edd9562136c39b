"""Drop duplicated inline scripts from the pages.

sphinx-thebe adds its inline configuration script each time Sphinx re-reads the sources
(sphinxcontrib-bibtex triggers a second read), so every page declared ``const THEBE_JS_URL``
twice, a JavaScript SyntaxError in the browser. This keeps the first copy of each script.
"""


def _dedupe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        # an inline script has filename None or "" depending on who added it
        key = (getattr(js, "filename", None) or "", repr(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    scripts[:] = kept


def setup(app):
    app.connect("html-page-context", _dedupe, priority=100)  # first: emit_firstresult stops at the first handler that returns
    return {"parallel_read_safe": True, "parallel_write_safe": True}
