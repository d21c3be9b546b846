"""Wire formats both sides share (the client's network probe and the sandbox's server): no behaviour, no I/O.

``tds``: the packet header and framing ([MS-TDS] 2.2.3); ``prelogin``: PRELOGIN options ([MS-TDS] 2.2.6.5).
"""
