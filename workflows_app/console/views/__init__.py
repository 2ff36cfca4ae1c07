"""The console's views: pages (reads), actions (POST forms), usage (billing page and CSV)."""
