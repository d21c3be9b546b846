"""The sandbox as Azure Resource Manager: Microsoft.Sql (``endpoint``), auditing and diagnostic settings
(``monitoring``) and Resource Graph (``resourcegraph``), in Microsoft's REST shapes."""
