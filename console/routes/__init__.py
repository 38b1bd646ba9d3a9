"""The console's pages, one module per screen; each calls services/ and renders a template."""
