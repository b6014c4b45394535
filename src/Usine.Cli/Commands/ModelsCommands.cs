namespace Usine.Cli.Commands;

internal sealed class ModelsListSettings : FormattedSettings;

internal sealed class ModelsShowSettings : FormattedSettings
{
    [CommandArgument(0, "<NAME>")]
    [Description("The model's name.")]
    public string Name { get; init; } = "";

    [CommandOption("-v|--version <N>")]
    [Description("The version to show. Default: the newest.")]
    public int? Version { get; init; }

    public override ValidationResult Validate() =>
        Version is < 1 ? ValidationResult.Error("--version must be 1 or more") : base.Validate();
}

/// <summary>usine models list: every model, newest version first.</summary>
internal sealed class ModelsListCommand(CliEnvironment environment) : ClientCommand<ModelsListSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, ModelsListSettings settings, CancellationToken cancellationToken)
    {
        var answer = await client.GetModelsAsync(cancellationToken);
        if (Environment.TryWrite(settings.Format, answer.Json, answer.Json, typeof(ModelSummary)))
        {
            return ExitCodes.Ok;
        }

        var models = answer.Value;
        if (models.Count == 0)
        {
            Environment.PrintLine("No models are defined.");
            return ExitCodes.Ok;
        }

        var table = new TableView("model", "version", "versions", "fields", "description").RightAlign(1, 3);
        foreach (var model in models)
        {
            table.Row(model.Name, $"v{model.Version}", Versions(model.Versions), model.Fields.ToString(System.Globalization.CultureInfo.InvariantCulture), model.Description);
        }

        Environment.Print(table);
        return ExitCodes.Ok;
    }

    internal static string Versions(IReadOnlyList<int>? versions) =>
        versions is { Count: > 0 } ? string.Join(", ", versions.Select(v => $"v{v}")) : "";
}

/// <summary>usine models show: one model version in full.</summary>
internal sealed class ModelsShowCommand(CliEnvironment environment) : ClientCommand<ModelsShowSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, ModelsShowSettings settings, CancellationToken cancellationToken)
    {
        var answer = await client.GetModelAsync(settings.Name, settings.Version, cancellationToken);
        if (Environment.TryWrite(settings.Format, answer.Json, answer.Json, typeof(ModelDetail)))
        {
            return ExitCodes.Ok;
        }

        var model = answer.Value;
        var avatar = model.Avatar is { } binding
            ? $"{binding.Type} {binding.Id}{(binding.Attach is { } attach ? $" (attach {attach})" : "")}"
            : "none";
        Environment.PrintDetails(
        [
            ("model", $"{model.Name} v{model.Version}"),
            ("versions", ModelsListCommand.Versions(model.Versions)),
            ("description", model.Description),
            ("time", model.Time),
            ("key", model.Key is { Count: > 0 } key ? string.Join(", ", key) : "none"),
            ("avatar", avatar),
            ("table", model.Table),
            ("defined in", model.Origin),
        ]);

        var fields = new TableView("field", "type", "unit", "required", "range", "enum / pattern", "description");
        foreach (var field in model.Fields ?? [])
        {
            fields.Row(field.Name, field.Type, field.Unit, field.Required ? "yes" : "", Range(field.Min, field.Max), Allowed(field), field.Description);
        }

        Environment.Print(fields);

        if (model.Rollups is { Count: > 0 } rollups)
        {
            var table = new TableView("rollup", "bucket", "by", "measures");
            foreach (var rollup in rollups)
            {
                var measures = rollup.Measures is { } m
                    ? string.Join("; ", m.Select(pair => $"{pair.Key}: {string.Join(", ", pair.Value)}"))
                    : "";
                table.Row(rollup.Name, rollup.Bucket, rollup.By is { } by ? string.Join(", ", by) : "", measures);
            }

            Environment.Print(table);
        }
        else
        {
            Environment.PrintLine("No rollups.");
        }

        return ExitCodes.Ok;
    }

    private static string Range(string? min, string? max) => (min, max) switch
    {
        (null, null) => "",
        (not null, null) => $">= {min}",
        (null, not null) => $"<= {max}",
        _ => $"{min} .. {max}",
    };

    private static string Allowed(ModelField field) =>
        field.Enum is { Count: > 0 } values ? string.Join(" | ", values)
        : field.Pattern is { } pattern ? $"/{pattern}/"
        : "";
}

/// <summary>usine models add FILE: adds a model or a new version of one to the running server.</summary>
internal sealed class ModelsAddCommand(CliEnvironment environment) : ClientCommand<DefinitionFileSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, DefinitionFileSettings settings, CancellationToken cancellationToken)
    {
        var model = await client.AddModelAsync(settings.Read(), cancellationToken);
        Environment.PrintLine($"model {model.Name} version {model.Version} is defined (versions: {ModelsListCommand.Versions(model.Versions)}); its table is m_{model.Name}");
        return ExitCodes.Ok;
    }
}
