from ecslite.builtin.xray.daemon import main

raise SystemExit(main())
