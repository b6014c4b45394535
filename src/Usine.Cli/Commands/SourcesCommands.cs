namespace Usine.Cli.Commands;

internal sealed class SourcesListSettings : FormattedSettings;

internal sealed class SourcesShowSettings : FormattedSettings
{
    [CommandArgument(0, "<ID>")]
    [Description("The source's id.")]
    public string Id { get; init; } = "";
}

/// <summary>usine sources list: every source with its counters.</summary>
internal sealed class SourcesListCommand(CliEnvironment environment) : ClientCommand<SourcesListSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, SourcesListSettings settings, CancellationToken cancellationToken)
    {
        var answer = await client.GetSourcesAsync(cancellationToken);
        if (Environment.TryWrite(settings.Format, answer.Json, answer.Json, typeof(SourceInfo)))
        {
            return ExitCodes.Ok;
        }

        var sources = answer.Value;
        if (sources.Count == 0)
        {
            Environment.PrintLine("No sources are defined.");
            return ExitCodes.Ok;
        }

        var now = Environment.Time.GetUtcNow();
        var table = new TableView("source", "plant", "kind", "format", "model", "state", "received", "stored", "dead letters", "last seen")
            .RightAlign(6, 7, 8);
        foreach (var source in sources)
        {
            table.Row(
                source.Id, source.Plant, source.Kind, source.Format, source.Model, source.State,
                Output.Count(source.Received), Output.Count(source.Stored), Output.Count(source.DeadLetters),
                Output.Ago(source.LastSeen, now));
        }

        Environment.Print(table);
        return ExitCodes.Ok;
    }
}

/// <summary>usine sources show: one source's definition and counters.</summary>
internal sealed class SourcesShowCommand(CliEnvironment environment) : ClientCommand<SourcesShowSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, SourcesShowSettings settings, CancellationToken cancellationToken)
    {
        var answer = await client.GetSourceAsync(settings.Id, cancellationToken);
        if (Environment.TryWrite(settings.Format, answer.Json, answer.Json, typeof(SourceInfo)))
        {
            return ExitCodes.Ok;
        }

        var source = answer.Value;
        var now = Environment.Time.GetUtcNow();
        List<(string, string?)> lines =
        [
            ("source", source.Id),
            ("description", source.Description),
            ("plant", source.Plant),
            ("kind", source.Kind),
            ("format", source.Format),
            ("model", source.Model),
            ("topic", source.Topic),
            ("path", source.Path),
            ("expected every", source.ExpectEvery),
            ("state", source.State),
            ("job", source.Job is null ? null : $"{source.Job} ({source.JobState}{(source.JobReason is null ? "" : ": " + source.JobReason)})"),
            ("rate", $"{source.RatePerSecond.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture)} msg/s over the last minute"),
            ("lag", Output.Duration(TimeSpan.FromSeconds(source.LagSeconds))),
            ("received", Output.Count(source.Received)),
            ("stored", Output.Count(source.Stored)),
            ("duplicates", Output.Count(source.Duplicates)),
            ("dead letters", $"{Output.Count(source.DeadLetters)} ({Output.Count(source.DeadLettersLastHour)} in the last hour)"),
            ("bytes", Output.Bytes(source.Bytes)),
            ("last seen", source.LastSeen is null ? "never" : $"{Output.Ago(source.LastSeen, now)} ({Output.Time(source.LastSeen)})"),
        ];
        // The rest of the definition (mapping, connection settings) is shown as the server sends it.
        foreach (var (name, value) in source.Extra ?? [])
        {
            if (value.ValueKind is not JsonValueKind.Null)
            {
                lines.Add((name, value.ValueKind == JsonValueKind.String ? value.GetString() : value.GetRawText()));
            }
        }

        Environment.PrintDetails(lines);
        return ExitCodes.Ok;
    }
}

internal sealed class DefinitionFileSettings : ClientSettings
{
    [CommandArgument(0, "<FILE>")]
    [Description("A YAML or JSON file with one definition, written as an item of 'models:' or 'sources:' in the configuration.")]
    public string File { get; init; } = "";

    /// <summary>The file's text, or bad usage when it cannot be read.</summary>
    public string Read()
    {
        try
        {
            return System.IO.File.ReadAllText(File);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw CliException.Usage($"cannot read {File}: {e.Message}");
        }
    }
}

internal sealed class SourcesRemoveSettings : ClientSettings
{
    [CommandArgument(0, "<ID>")]
    [Description("The id of a source created through the API.")]
    public string Id { get; init; } = "";
}

/// <summary>usine sources put FILE: creates or replaces a source on the running server.</summary>
internal sealed class SourcesPutCommand(CliEnvironment environment) : ClientCommand<DefinitionFileSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, DefinitionFileSettings settings, CancellationToken cancellationToken)
    {
        var text = settings.Read();
        var id = IdOf(text) ?? throw CliException.Usage($"{settings.File} has no 'id': a source definition names its id");
        var source = await client.PutSourceAsync(id, text, cancellationToken);
        Environment.PrintLine($"source {source.Id} ({source.Kind}, model {source.Model}, plant {source.Plant}) is defined and {source.State}");
        return ExitCodes.Ok;
    }

    /// <summary>The top-level <c>id</c> of a YAML or JSON mapping.</summary>
    internal static string? IdOf(string text)
    {
        try
        {
            var yaml = new YamlDotNet.RepresentationModel.YamlStream();
            yaml.Load(new StringReader(text));
            return yaml.Documents.Count > 0
                && yaml.Documents[0].RootNode is YamlDotNet.RepresentationModel.YamlMappingNode map
                && map.Children.TryGetValue(new YamlDotNet.RepresentationModel.YamlScalarNode("id"), out var id)
                && id is YamlDotNet.RepresentationModel.YamlScalarNode { Value: { Length: > 0 } value }
                ? value
                : null;
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            throw CliException.Usage($"the file is not valid YAML or JSON: {e.Message}");
        }
    }
}

/// <summary>usine sources remove ID: removes a source created through the API.</summary>
internal sealed class SourcesRemoveCommand(CliEnvironment environment) : ClientCommand<SourcesRemoveSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, SourcesRemoveSettings settings, CancellationToken cancellationToken)
    {
        var removed = await client.RemoveSourceAsync(settings.Id, cancellationToken);
        Environment.PrintLine($"source {removed.Removed} is removed; its records, dead letters and raw messages stay");
        return ExitCodes.Ok;
    }
}
