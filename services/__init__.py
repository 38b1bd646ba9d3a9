"""What the API, the console and the CLI share: the stuck finder, queues, re-planning, case reads and starts.

Nothing here knows about HTTP: the API turns what these raise into problem documents."""
