"""The operator dashboard's data (issue 14): read-only queries over the database.

One module per page concept: ``health`` (is it healthy now), ``charts`` (what happened
over a window), ``post_search`` (which posts match a filter), ``timeline`` (what happened
to one post), with ``post_summary`` and ``post_parts`` (where it stands, its parts) and
``post_actions`` (what its state allows). Each returns frozen dataclasses; none writes,
none speaks HTTP. Actions
taken from the dashboard go through ``publisher.core.service`` like the HTTP API's.
"""
