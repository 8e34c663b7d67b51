from auraison.cli import main

main()
