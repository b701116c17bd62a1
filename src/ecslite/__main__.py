from ecslite.cli.main import main

main()
