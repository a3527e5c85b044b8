"""Views: progress on the console, study reports, and plots."""
