from workbench.pretrained.source import main

main()
