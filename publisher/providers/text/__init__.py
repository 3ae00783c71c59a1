"""How each network measures a post's text.

Networks count a post's length differently: X weighs characters and counts every link as
23, Mastodon counts graphemes and links as 23, a webhook takes code points. Each provider
declares a ``TextRule`` (``rule``); the counting itself lives in one module per way of
counting, so the API can refuse a text the network would refuse before it is queued.
"""
