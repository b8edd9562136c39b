"""The built book works without a network: nothing on a page is fetched from another host.

* Images whose URL is in ``LOCAL_COPIES`` (the "Open in Colab" badge in the first cell of
  every notebook) are shown from the copy in ``book/_static``; the notebooks keep the
  remote URL, so the badge still works on GitHub and in Jupyter.
* A page that would load a script, stylesheet or image from another host is a build
  warning, so an error under ``jupyter-book build --warningiserror``. MathJax itself
  comes from the ``sphinx-mathjax-offline`` extension (see ``_config.yml``).
"""
import re

from docutils import nodes
from sphinx.util import logging
from sphinx.util.osutil import relative_uri

logger = logging.getLogger(__name__)

LOCAL_COPIES = {
    "https://colab.research.google.com/assets/colab-badge.svg": "_static/colab-badge.svg",
}
_REMOTE = re.compile(r"^(https?:)?//", re.I)
_REMOTE_TAG = re.compile(
    r"<(img|script|iframe|audio|video|source|embed)\b[^>]*\bsrc=[\"']((?:https?:)?//[^\"']+)", re.I
)


def _local_images(app, doctree, docname):
    if app.builder.format != "html":
        return
    page = app.builder.get_target_uri(docname)
    for image in doctree.findall(nodes.image):
        local = LOCAL_COPIES.get(image["uri"])
        if local:
            image["uri"] = relative_uri(page, local)
            image["candidates"] = {"*": image["uri"]}


def _no_remote_assets(app, pagename, templatename, context, doctree):
    assets = list(context.get("script_files", [])) + list(context.get("css_files", []))
    urls = [str(getattr(a, "filename", a) or "") for a in assets]  # "" for an inline script
    remote = [u for u in urls if _REMOTE.match(u)]
    remote += [m.group(2) for m in _REMOTE_TAG.finditer(context.get("body", ""))]
    for url in remote:
        logger.warning(f"{pagename}: loads {url} from another host (the book must work offline)",
                       type="offline", subtype="remote", location=pagename)


def setup(app):
    app.connect("doctree-resolved", _local_images)
    # after sphinx.ext.mathjax (priority 500) has added its script to the page
    app.connect("html-page-context", _no_remote_assets, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
