from ecslite.builtin.otelcol.collector import main

raise SystemExit(main())
