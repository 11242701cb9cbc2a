"""Build machinery of the site: run pages, draw figures, write notebooks.

Nothing here is shown to readers; `snippets/` holds the code they see.
"""
