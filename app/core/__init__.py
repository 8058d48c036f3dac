"""The small shared base every domain stands on: settings, database and unit of work, errors, auth basics, web helpers."""
