"""The sandbox's DNS: the endpoint the surfaces' host names resolve through (``endpoint``)."""
