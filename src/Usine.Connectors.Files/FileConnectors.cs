using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Usine.Sources;

namespace Usine.Connectors.Files;

/// <summary>Settings shared by every file source of a process.</summary>
public sealed record FileConnectorOptions
{
    /// <summary>How often a drop folder is looked at; a file is taken once its size did not change between two looks. Default 1 s.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Lines per batch of an import (a dropped file or an upload); each batch is one transaction. Default 25000.</summary>
    public int ImportBatchSize { get; init; } = 25_000;

    /// <summary>
    /// How the runner batches a file: full batches of <see cref="ImportBatchSize"/>, as few transactions as the
    /// file allows. The end of a file ships its last batch at once; the window of a second only matters for an
    /// upload that arrives slowly.
    /// </summary>
    internal SourceRunnerOptions RunnerOptions => new() { BatchSize = ImportBatchSize, BatchWindow = TimeSpan.FromSeconds(1) };

    /// <summary>Throws when a setting cannot work, saying which and how to fix it.</summary>
    public void Validate()
    {
        if (PollInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException($"{nameof(PollInterval)} must be positive, not {PollInterval}");
        }

        if (ImportBatchSize < 1)
        {
            throw new ArgumentException($"{nameof(ImportBatchSize)} must be at least 1, not {ImportBatchSize}");
        }
    }
}

/// <summary>The registration of the file kind of source: a drop folder (<see cref="FileDropConnector"/>) on the <see cref="SourceRunner"/>.</summary>
public static class FileConnectors
{
    /// <summary>What <c>kind:</c> says for a drop folder.</summary>
    public const string Kind = "file";

    /// <summary>The folder watched, absolute or relative to the data directory (written <c>path:</c> at the top level of the source, or under settings).</summary>
    public const string PathSetting = "path";

    /// <summary>The file name pattern in the folder, default <c>*</c>.</summary>
    public const string PatternSetting = "pattern";

    /// <summary>The file kind, with <paramref name="options"/> shared by every drop folder of the process.</summary>
    public static SourceKindRegistration Registration(FileConnectorOptions? options = null)
    {
        var shared = options ?? new FileConnectorOptions();
        shared.Validate();
        return new() { Name = Kind, Settings = new FileSettingsValidator(), Start = (source, context) => Start(source, context, shared) };
    }

    /// <summary>The drop folder of a source on the runner; a relative path is read from the data directory.</summary>
    private static SourceRunner Start(SourceDefinition source, SourceStartContext context, FileConnectorOptions options)
    {
        var path = source.Settings[PathSetting];
        var folder = Path.IsPathRooted(path) ? path : Path.Combine(context.DataDirectory, path);
        var connector = new FileDropConnector(source, folder, context.Streams, options.PollInterval, context.Jobs, context.Loggers.CreateLogger<FileDropConnector>(), context.Time);
        return context.Run(connector, options.RunnerOptions);
    }

    /// <summary>Registers the file kind of source in a container.</summary>
    public static IServiceCollection AddFileConnectors(this IServiceCollection services, FileConnectorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton(Registration(options));
        return services;
    }
}

/// <summary>The check of a file source's settings: a folder (<c>path</c>) and an optional file name <c>pattern</c>.</summary>
public sealed class FileSettingsValidator : ISourceSettingsValidator
{
    private static readonly string[] Keys = [FileConnectors.PathSetting, FileConnectors.PatternSetting];

    public void Validate(SourceDefinition source)
    {
        ArgumentNullException.ThrowIfNull(source);
        foreach (var key in source.Settings.Keys)
        {
            if (Array.IndexOf(Keys, key) < 0)
            {
                throw new SourceSettingException(key, SourceSettings.UnknownKey($"source '{source.Id}'", FileConnectors.Kind, key, Keys));
            }
        }

        if (!source.Settings.TryGetValue(FileConnectors.PathSetting, out var path) || string.IsNullOrWhiteSpace(path))
        {
            throw new SourceSettingException(null, $"source '{source.Id}' of kind file needs a 'path' (the folder watched for new files)");
        }

        if (source.Settings.TryGetValue(FileConnectors.PatternSetting, out var pattern) && (pattern.Contains('/', StringComparison.Ordinal) || pattern.Contains('\\', StringComparison.Ordinal)))
        {
            throw new SourceSettingException(FileConnectors.PatternSetting, $"source '{source.Id}': pattern '{pattern}' is a file name pattern such as *.csv, without folders; put the folder in path");
        }
    }
}
