"""azsqlctl: passwordless (Entra ID) access to Azure SQL Database."""

__version__ = "0.1.0"
