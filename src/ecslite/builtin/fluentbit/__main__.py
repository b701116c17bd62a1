from ecslite.builtin.fluentbit.main import main

raise SystemExit(main())
