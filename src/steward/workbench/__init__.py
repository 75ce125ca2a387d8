"""The evaluation workbench: data sets uploaded through the web app, local validations run in
the background with visible progress, and their results attached to a tool version as evidence."""
