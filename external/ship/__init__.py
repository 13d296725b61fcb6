"""Ship: the sinks recaps go to, and the budget/retry queue in front of them (extension process)."""
