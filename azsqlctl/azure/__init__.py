"""The boundary: thin wrappers over azure-identity, azure-mgmt-sql and pyodbc, imported lazily."""
