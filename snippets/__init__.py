"""Every line of code the site shows, in sections that pages include.

A section is the text between `# --8<-- [start:name]` and
`# --8<-- [end:name]`; a page embeds it with `--8<-- "snippets/x.py:name"`.
Definitions sit at module level and import without side effects; the
demonstrations a page runs sit under `if __name__ == "__main__":`, so
`python -m snippets.<chapter>` runs a chapter's code in page order.
"""
