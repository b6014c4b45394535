using System.Runtime.CompilerServices;

// The tests drive the command app in-process with a captured console and a real HTTP listener.
[assembly: InternalsVisibleTo("Usine.Cli.Tests")]
