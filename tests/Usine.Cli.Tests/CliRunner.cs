using Microsoft.Extensions.Time.Testing;
using Spectre.Console;
using Usine.Cli.Internal;

namespace Usine.Cli.Tests;

/// <summary>What one run of the tool produced.</summary>
internal sealed record CliResult(int ExitCode, string Output, string Error);

/// <summary>Runs the real command app in-process with captured standard output and standard error.</summary>
internal static class CliRunner
{
    public static async Task<CliResult> RunAsync(
        string[] args,
        IReadOnlyDictionary<string, string>? environmentVariables = null,
        bool interactive = false,
        TimeProvider? time = null)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            // A terminal gets the live progress display, which needs ANSI cursor movement.
            Ansi = interactive ? AnsiSupport.Yes : AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = interactive ? InteractionSupport.Yes : InteractionSupport.No,
            Out = new AnsiConsoleOutput(output),
        });
        // Wide enough that tables never wrap a cell, so assertions can look for whole values.
        console.Profile.Width = 200;
        var environment = new CliEnvironment
        {
            Console = console,
            Out = output,
            Error = error,
            Interactive = interactive,
            GetEnvironmentVariable = name => environmentVariables?.GetValueOrDefault(name),
            UserName = "tester",
            Time = time ?? new FakeTimeProvider(DateTimeOffset.Parse("2026-11-26T10:00:15Z", System.Globalization.CultureInfo.InvariantCulture)),
        };
        var exitCode = await UsineCli.RunAsync(args, environment, CancellationToken.None);
        return new CliResult(exitCode, output.ToString(), error.ToString());
    }
}

internal static class CliAssert
{
    /// <summary>DESIGN: errors go to standard error in one clear line, and nothing else goes there.</summary>
    public static void OneErrorLine(string expected, CliResult result)
    {
        Assert.Equal(expected + Environment.NewLine, result.Error);
    }
}
