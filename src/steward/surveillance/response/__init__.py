"""Response policies per tool (who is told, what happens at each severity) and applying them."""
