"""Each cited entry of the references page says which pages cite it, with links.

The list is built from the ``{cite}`` roles that sphinxcontrib-bibtex collected while
reading the sources, so it is always the one of the current build. Each entry also gets
the class ``cite-key-<bibtex key>`` (for the tests).
"""
from docutils import nodes
from sphinx import addnodes
from sphinx.transforms.post_transforms import SphinxPostTransform


class CitedIn(SphinxPostTransform):
    # after BibliographyTransform (5) has made the entries, before the references are
    # resolved (10), so that the links added here are resolved too
    default_priority = 6

    def run(self, **kwargs):
        domain = self.env.get_domain("cite")
        key_of = {c.citation_id: c.key for c in domain.citations}
        citing = {}
        for ref in domain.citation_refs:
            for target in ref.targets:
                citing.setdefault(target.key, set()).add(ref.docname)
        for entry in self.document.findall(nodes.citation):
            key = next((key_of[i] for i in entry["ids"] if i in key_of), None)
            if key is None:
                continue
            entry["classes"].append(nodes.make_id(f"cite-key-{key}"))
            docs = sorted(citing.get(key, ()))  # book/intro, then notebooks/00_..., 01_...
            if not docs:
                continue  # the page puts these under "Further reading"
            para = nodes.paragraph(classes=["cited-in"])
            para += nodes.emphasis(text="Cited in: ")
            for i, doc in enumerate(docs):
                if i:
                    para += nodes.Text("; ")
                xref = addnodes.pending_xref(
                    "", refdomain="std", reftype="doc", reftarget="/" + doc, refexplicit=True,
                    refdoc=entry.get("docname", self.env.docname))
                title = self.env.titles[doc].astext()
                if doc == self.config.root_doc:
                    title = "Introduction"  # its title is the book's
                xref += nodes.inline(text=title)
                para += xref
            entry += para


def setup(app):
    app.add_post_transform(CitedIn)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
