"""``publisher demo``: the whole product against the sandbox, with a live view.

``runner`` starts ``publisher run`` and the sandbox and drives the ``scenario``;
``view`` draws the progress and the summary.
"""
