"""grant: least-privilege database roles for Entra identities, one database or a fleet.

``operation`` runs a grant (plan every target, then apply, one transaction per database); ``plan`` turns a
database's state (``state``) and the wanted roles into T-SQL; ``policy`` reads a policy file and ``fleet``
resolves its targets (Resource Graph selections); ``export`` writes a policy from what a database holds;
``entra_admin`` plans the server's Entra admin. ``logs --policy`` reads the same policy file (``policy``, ``fleet``).
"""
