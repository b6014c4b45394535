namespace Usine.Cli.Internal;

/// <summary>
/// Where the tool writes and what it knows about its surroundings. Injected into every client command,
/// so tests run the real command app against captured output.
/// </summary>
internal sealed record CliEnvironment
{
    /// <summary>
    /// The width Spectre gets when standard output is not a terminal. Spectre falls back to 80 columns when it
    /// cannot measure a terminal, and fits every table and line into that, which breaks wide tables into
    /// slivers in a pipe or a log; a width no line reaches keeps every line whole.
    /// </summary>
    private const int PipeWidth = 1 << 15;

    /// <summary>Rich output: tables, grids, progress bars. Writes to standard output.</summary>
    public required IAnsiConsole Console { get; init; }

    /// <summary>
    /// Raw standard output for CSV, JSON, payloads and plain tables: nothing written here is wrapped or styled.
    /// </summary>
    public required TextWriter Out { get; init; }

    /// <summary>Standard error: one line per error.</summary>
    public required TextWriter Error { get; init; }

    /// <summary>Reads an environment variable (USINE_SERVER). Default: the process environment.</summary>
    public Func<string, string?> GetEnvironmentVariable { get; init; } = Environment.GetEnvironmentVariable;

    /// <summary>
    /// True when standard output is a terminal: tables are drawn with borders to fit its width. Otherwise they
    /// are plain aligned text at their natural width, one line per row, for pipes, files and logs.
    /// </summary>
    public bool Terminal { get; init; }

    /// <summary>True when standard output is a terminal that can redraw, so live progress bars make sense.</summary>
    public bool Interactive { get; init; }

    /// <summary>Who runs the tool, sent as <c>X-Usine-Actor</c> so the server's audit log names them. Default: the local user name.</summary>
    public string UserName { get; init; } = Environment.UserName;

    /// <summary>The clock used for "3s ago". Default: the system clock.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    public static CliEnvironment FromProcess()
    {
        var terminal = !System.Console.IsOutputRedirected;
        return Create(System.Console.Out, System.Console.Error, terminal, Environment.GetEnvironmentVariable, terminal ? AnsiConsole.Console : null);
    }

    /// <summary>
    /// The environment for standard output <paramref name="output"/>. On a terminal the width is <c>COLUMNS</c>
    /// when set, else the terminal's; elsewhere nothing is ever wrapped.
    /// </summary>
    /// <param name="terminalConsole">The console of a real terminal; null to write ANSI-free text to <paramref name="output"/>.</param>
    public static CliEnvironment Create(
        TextWriter output, TextWriter error, bool terminal, Func<string, string?> getEnvironmentVariable, IAnsiConsole? terminalConsole = null)
    {
        var console = terminalConsole ?? AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = terminal ? AnsiSupport.Yes : AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = terminal ? InteractionSupport.Yes : InteractionSupport.No,
            Out = new AnsiConsoleOutput(output),
        });
        var columns = int.TryParse(getEnvironmentVariable("COLUMNS"), NumberStyles.None, CultureInfo.InvariantCulture, out var c) && c > 0 ? c : (int?)null;
        if (!terminal)
        {
            console.Profile.Width = PipeWidth;
        }
        else if (columns is { } width)
        {
            console.Profile.Width = width;
        }

        return new CliEnvironment
        {
            Console = console,
            Out = output,
            Error = error,
            GetEnvironmentVariable = getEnvironmentVariable,
            Terminal = terminal,
            Interactive = terminal && console.Profile.Capabilities.Interactive,
        };
    }
}
