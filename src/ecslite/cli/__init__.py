"""The ``ecslite`` command line: the server and the client commands that talk to it over HTTP."""
