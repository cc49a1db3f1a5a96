"""The claims of ``jaxbail reproduce``, one module each (``NAME``, ``TITLE``, ``SETTINGS``, ``run``,
``verdict``, ``figure``, ``rows``)."""
