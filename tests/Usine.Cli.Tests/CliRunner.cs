using Microsoft.Extensions.Time.Testing;
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
        // Built as the process builds it: not interactive is standard output redirected (a pipe, a file), the
        // case scripts and logs see; interactive is a terminal.
        var environment = CliEnvironment.Create(output, error, terminal: interactive, name => environmentVariables?.GetValueOrDefault(name)) with
        {
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
