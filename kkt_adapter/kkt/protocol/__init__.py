"""Pure codec of the Shtrih-M protocol: frames, fields, commands, answers, error table. No I/O."""
