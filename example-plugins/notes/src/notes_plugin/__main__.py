from notes_plugin import main

main()
