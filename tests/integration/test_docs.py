# SPDX-License-Identifier: BSD-2-Clause
"""The documentation holds together: README.md stays short and starts
with the two commands, no page points outside the repository, every
link between pages resolves, and the pages agree with the manual page
on the paths they tell users to type."""

import re

import harness

ROOT = harness.ROOT
README = ROOT / "README.md"
PAGES = [README] + sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def text(path):
    return path.read_text(encoding="utf-8")


def slug(heading):
    """The anchor GitHub gives a heading."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(path):
    out = set()
    in_code = False
    for line in text(path).splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            out.add(slug(line.lstrip("#")))
    return out


def test_readme_is_short_and_starts_with_the_two_commands():
    lines = text(README).splitlines()
    assert len(lines) <= 300, len(lines)
    first_block = text(README).split("```sh\n", 1)[1].split("```", 1)[0]
    assert [line.split()[:2] for line in first_block.splitlines()] == \
        [["make", "demo"], ["make", "test"]]


def test_no_page_points_outside_the_repository():
    for page in PAGES:
        body = text(page)
        for word in ("interface.md", "the contract"):
            assert word not in body, (page.name, word)


def test_every_link_between_pages_resolves():
    broken = []
    for page in PAGES:
        for target in LINK.findall(text(page)):
            if re.match(r"[a-z]+:", target):
                continue            # http(s)://, mailto:
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and dest.suffix == ".md" and \
                    anchor not in anchors(dest):
                broken.append(f"{page.relative_to(ROOT)}: {target} "
                              f"(no such heading)")
    assert not broken, "\n".join(broken)


def test_one_key_path_everywhere():
    """The manual page and the documentation name the same key file."""
    rx = re.compile(r"SSE_JWT_SECRET_FILE[= ]+(/[^\s\"'`)]+)")
    found = {}
    sources = PAGES + [ROOT / "sse-outbox.1"] + \
        sorted(ROOT.glob("*-example.conf"))
    for path in sources:
        body = text(path).replace("\\-", "-")
        for key in rx.findall(body):
            found.setdefault(key, set()).add(path.name)
    assert "/etc/sse-outbox/jwt.key" in found, found
    assert len(found) == 1, found


def test_license_is_bsd_2_clause_and_the_readme_says_so():
    lic = text(ROOT / "LICENSE")
    assert lic.startswith("BSD 2-Clause License")
    assert "Copyright (c) 2026, the sse-outbox authors" in lic
    assert "BSD-2-Clause" in text(README) and "(LICENSE)" in text(README)
