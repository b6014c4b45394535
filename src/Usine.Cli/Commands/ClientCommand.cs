using System.ComponentModel;
using Spectre.Console.Cli;
using Usine.Cli.Internal;

namespace Usine.Cli.Commands;

/// <summary>Settings every client command shares: where the server is.</summary>
internal class ClientSettings : CommandSettings
{
    [CommandOption("--server <URL>")]
    [Description("The Usine server to talk to. Default: the USINE_SERVER environment variable, else http://127.0.0.1:5080.")]
    public string? Server { get; init; }
}

/// <summary>
/// A command that talks to a running server. It turns every failure into one line on standard error and
/// the exit code DESIGN promises, so the commands themselves only describe the happy path.
/// </summary>
internal abstract class ClientCommand<TSettings>(CliEnvironment environment) : AsyncCommand<TSettings>
    where TSettings : ClientSettings
{
    protected CliEnvironment Environment { get; } = environment;

    public sealed override async Task<int> ExecuteAsync(CommandContext context, TSettings settings, CancellationToken cancellationToken)
    {
        try
        {
            using var client = new UsineClient(UsineClient.ResolveServer(settings.Server, Environment.GetEnvironmentVariable), Environment.UserName, Environment.GetEnvironmentVariable("USINE_API_KEY"));
            return await RunAsync(client, settings, cancellationToken);
        }
        catch (CliException e)
        {
            await Environment.Error.WriteLineAsync($"error: {e.Message}");
            return e.ExitCode;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await Environment.Error.WriteLineAsync("error: cancelled");
            return ExitCodes.Failure;
        }
    }

    protected abstract Task<int> RunAsync(UsineClient client, TSettings settings, CancellationToken cancellationToken);
}
