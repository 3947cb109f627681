package pipeline

// ForecastCategory is how an opportunity counts in a forecast; the numbers
// match the API's enum.
type ForecastCategory int32

// Forecast categories.
const (
	ForecastCategoryUnspecified ForecastCategory = iota
	ForecastCategoryPipeline
	ForecastCategoryBestCase
	ForecastCategoryCommit
	ForecastCategoryClosed
	ForecastCategoryOmitted
)
