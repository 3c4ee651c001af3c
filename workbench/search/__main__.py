from workbench.search.trials import main

main()
