namespace Usine.Cli.Commands;

/// <summary>Settings every client command shares: where the server is.</summary>
internal class ClientSettings : CommandSettings
{
    [CommandOption("--server <URL>")]
    [Description("The Usine server to talk to. Default: the USINE_SERVER environment variable, else http://127.0.0.1:5080.")]
    public string? Server { get; init; }
}

/// <summary>Settings of the commands that print what the server knows: a list or one thing.</summary>
internal class FormattedSettings : ClientSettings
{
    public const string FormatDescription =
        "table (for people: borders on a terminal, plain aligned text in a pipe or a file), csv (RFC 4180 with a header line) or json (the API's data).";

    [CommandOption("-f|--format <FORMAT>")]
    [Description(FormatDescription)]
    [DefaultValue(DataOutput.Table)]
    public string Format { get; init; } = DataOutput.Table;

    public override Spectre.Console.ValidationResult Validate() =>
        DataOutput.Problem(Format) is { } problem ? Spectre.Console.ValidationResult.Error(problem) : Spectre.Console.ValidationResult.Success();
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
