"""Sphinx configuration: the pages under docs/, Markdown read by MyST, built strictly.

`make docs` runs sphinx-build with -W --keep-going -n: a warning fails the build, so a broken
link, a missing page, a page outside the table of contents or an unresolved reference does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform

project = "bulkhead"
author = "the bulkhead authors"
copyright = "the bulkhead authors"

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
exclude_patterns: list[str] = []
# Every reference must resolve (-n makes a dangling one a warning, -W a failure).
nitpicky = True
# Headings get anchors, so `page.md#a-heading` links resolve and are checked.
myst_heading_anchors = 3
html_theme = "alabaster"
html_theme_options = {"description": "Batch work that cannot overload the services it uses"}
html_copy_source = False

REPOSITORY = Path(__file__).resolve().parent.parent


class RepositoryFileLinks(SphinxTransform):
    """Links to Markdown files of the repository outside docs/ (bench/results/latest.md) become
    downloads, so they work both where the repository is browsed and in the built site; MyST
    would read them as pages that do not exist. A link to a file that is not there stays a page
    reference and fails the build."""

    default_priority = 5

    def apply(self, **kwargs: Any) -> None:
        for node in list(self.document.findall(addnodes.pending_xref)):
            if node.get("refdomain") != "doc" or node.get("reftype") != "myst":
                continue
            target = node["reftarget"]
            if target in self.env.found_docs:
                continue
            path = (Path(self.env.srcdir) / f"{target}.md").resolve()
            if not path.is_file() or REPOSITORY not in path.parents:
                continue
            download = addnodes.download_reference(
                refdomain=None,
                reftarget="/" + str(Path("..") / path.relative_to(REPOSITORY)),
                refdoc=node["refdoc"],
                reftype="myst",
                refexplicit=node.get("refexplicit", False),
            )
            download += node.children
            node.replace_self(download)


def setup(app: Sphinx) -> dict[str, bool]:
    app.add_transform(RepositoryFileLinks)
    return {"parallel_read_safe": True}

