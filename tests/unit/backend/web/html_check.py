"""A page's structure as the tests check it: elements with their attributes, headings in order,
the visible text, and the accessibility rules every page keeps."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None
    children: list[Element] = field(default_factory=list)
    text: str = ""

    def all_text(self) -> str:
        return self.text + "".join(child.all_text() for child in self.children)

    def find_all(self, tag: str) -> list[Element]:
        found = [self] if self.tag == tag else []
        for child in self.children:
            found += child.find_all(tag)
        return found


class Page(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {}, None)
        self.current = self.root
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(element)
        if tag not in VOID:
            self.current = element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Element(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag: str) -> None:
        node: Element | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.text += data

    def all(self, tag: str) -> list[Element]:
        return self.root.find_all(tag)

    def text(self) -> str:
        return " ".join(self.root.all_text().split())


def accessibility_problems(page: Page) -> list[str]:
    """The rules every page keeps: a language, one h1, headings that never skip a level, a label for
    every form field, a scope on every table header, SVG charts as labelled images."""
    problems = []
    html = page.all("html")
    if not html or not html[0].attrs.get("lang"):
        problems.append("no lang on <html>")
    levels = [int(e.tag[1]) for e in _in_order(page.root) if e.tag in ("h1", "h2", "h3", "h4", "h5", "h6")]
    if levels.count(1) != 1 or not levels or levels[0] != 1:
        problems.append(f"not exactly one h1, first: {levels[:3]}")
    for before, after in itertools.pairwise(levels):
        if after > before + 1:
            problems.append(f"heading level jumps from h{before} to h{after}")
    labelled = {label.attrs.get("for") for label in page.all("label")}
    for field_ in page.all("input") + page.all("select") + page.all("textarea"):
        if field_.attrs.get("type") not in ("hidden", "submit") and field_.attrs.get("id") not in labelled:
            problems.append(f"no label for {field_.tag} {field_.attrs.get('name')}")
    for th in page.all("th"):
        if th.attrs.get("scope") not in ("col", "row"):
            problems.append(f"<th> without scope: {th.all_text()!r}")
    for svg in page.all("svg"):
        titles = [child for child in svg.children if child.tag == "title" and child.all_text().strip()]
        if svg.attrs.get("role") != "img" or not titles:
            problems.append("an <svg> that is not a titled image")
    return problems


def _in_order(element: Element) -> list[Element]:
    out = [element]
    for child in element.children:
        out += _in_order(child)
    return out
