"""The sandbox's own security rules, written out from Microsoft's documentation (never imported from azsqlctl.core).

The sandbox plays Azure SQL for the client under test: if it read its rules from the client's tables, a wrong
entry there would be confirmed by every end-to-end test. tests/unit/test_sandbox_rules.py compares the two
sides, so a wrong entry on either one fails.
"""
