/*
 * report_labels.c — the words of the printable cycle report: the title of
 * each step of the cycle, the Russian labels of the figures shown for it
 * (paths into the report document) and how each is written, and the Russian
 * names of the codes the document holds.
 */
#include <string.h>

#include "report_html.h"

static const struct label METHODS_FIGURES[] = {
	{"indicator_sources.self", "Показатели самооценки руководителя (источник — ОО)"},
	{"indicator_sources.municipal", "Показатели, заполняемые муниципалитетом"},
	{"indicator_sources.regional_import", "Показатели из региональных источников (загрузка)"},
	{"values.total", "Значений показателей собрано"},
	{"values.self", "— из самооценки"},
	{"values.municipal", "— от муниципалитета"},
	{"values.regional_import", "— из региональной загрузки"},
	{"imports", "Пакетных загрузок (по региону)"},
	{"imported_values", "Значений записано загрузками (по региону)"},
	{"self_assessment.opens_at", "Начало самооценки", FMT_DATE},
	{"self_assessment.closes_at", "Окончание самооценки", FMT_DATE},
	{"self_assessment.days", "Длительность самооценки, дней", FMT_ONE_PLACE},
	{NULL, NULL}};

static const struct label MONITORING_FIGURES[] = {
	{"expected", "Организаций, обязанных представить данные"},
	{"submitted", "Представили (на проверке или утверждены)"},
	{"submitted_on_time", "Представили в срок"},
	{"submitted_late", "Представили после срока"},
	{"verified", "Проверены муниципалитетом"},
	{"approved", "Утверждены регионом"},
	{"approved_share", "Доля утверждённых", FMT_PERCENT},
	{"returned_count", "Возвращались на доработку"},
	{"by_status.draft", "Сейчас в черновике"},
	{"by_status.returned", "Сейчас на доработке"},
	{NULL, NULL}};

static const struct label ANALYSIS_FIGURES[] = {
	{"count", "Утверждённых результатов с итоговым баллом"},
	{"mean", "Средний итоговый балл"},
	{"median", "Медиана"},
	{"q1", "Нижний квартиль"},
	{"q3", "Верхний квартиль"},
	{"min", "Минимум"},
	{"max", "Максимум"},
	{"levels.high", "Уровень «высокий»"},
	{"levels.sufficient", "Уровень «достаточный»"},
	{"levels.low", "Уровень «низкий»"},
	{"levels.critical", "Уровень «критический»"},
	{"mean_previous", "Средний балл в предыдущей кампании"},
	{"mean_change", "Изменение среднего балла"},
	{"outliers", "Выбросов (|z| > 3 по показателю и типу ОО)"},
	{"values_changed_at_verification", "Значений, изменённых при проверке"},
	{"calibration.compared", "Значений самооценки, сверенных при проверке"},
	{"calibration.share_lowered", "— доля сниженных при проверке", FMT_PERCENT},
	{"calibration.share_raised", "— доля повышенных при проверке", FMT_PERCENT},
	{"calibration.mean_gap", "Средний разрыв самооценки и проверки, баллов"},
	{"calibration.mean_lowering", "Среднее снижение значения при проверке, баллов"},
	{"calibration.organizations_flagged", "ОО с систематически завышенной самооценкой"},
	{NULL, NULL}};

static const struct label WARNING_FIGURES[] = {
	{"count", "Предупреждений"},
	{"heads", "Руководителей, получивших предупреждения"},
	{"drafted", "Подготовлено черновиков рекомендаций"},
	{"issued", "Выдано рекомендаций по предупреждениям"},
	{"threshold", "Порог итогового балла"},
	{"completeness_bound", "Граница полноты данных", FMT_PERCENT},
	{NULL, NULL}};

static const struct label RECOMMENDATION_FIGURES[] = {
	{"issued", "Выдано адресных рекомендаций"},
	{"to_managers", "— руководителям ОО"},
	{"to_municipalities", "— муниципалитетам"},
	{"managers_addressed", "Руководителей, получивших рекомендации"},
	{"acknowledged", "Приняты к исполнению (ознакомлены)"},
	{"reported", "Представлен отчёт о коррекции"},
	{"accepted", "Исполнение принято"},
	{"overdue", "Просрочено"},
	{NULL, NULL}};

static const struct label MEASURE_FIGURES[] = {
	{"roadmaps", "Дорожных карт"},
	{"roadmaps_by_level.regional", "— региональных"},
	{"roadmaps_by_level.municipal", "— муниципальных"},
	{"roadmaps_by_level.organization", "— уровня ОО"},
	{"milestones", "Мероприятий"},
	{"planned", "Запланировано"},
	{"in_progress", "Выполняется"},
	{"done", "Выполнено"},
	{"cancelled", "Отменено"},
	{"overdue", "Просрочено"},
	{"participants", "Руководителей — участников мероприятий"},
	{NULL, NULL}};

static const struct label DECISION_FIGURES[] = {
	{"total", "Управленческих решений (действующих)"},
	{"managers", "Руководителей, в отношении которых приняты решения"},
	{"bonus_amount", "Сумма стимулирующих выплат, руб.", FMT_MONEY},
	{"revoked", "Отменено решений"},
	{NULL, NULL}};

static const struct label NO_FIGURES[] = {{NULL, NULL}};

const struct step_view REPORT_VIEWS[] = {
	{"goals", "Цели", NO_FIGURES},
	{"indicators", "Показатели", NO_FIGURES},
	{"methods", "Методы сбора информации", METHODS_FIGURES},
	{"monitoring", "Мониторинг", MONITORING_FIGURES},
	{"analysis", "Анализ результатов", ANALYSIS_FIGURES},
	{"warnings", "Ранние предупреждения", WARNING_FIGURES},
	{"recommendations", "Адресные рекомендации", RECOMMENDATION_FIGURES},
	{"measures", "Меры и мероприятия", MEASURE_FIGURES},
	{"decisions", "Управленческие решения", DECISION_FIGURES},
	{"effect", "Анализ эффективности принятых мер", NO_FIGURES},
};
const size_t REPORT_NVIEWS = sizeof(REPORT_VIEWS) / sizeof(REPORT_VIEWS[0]);

static const struct label NAMES[] = {
	{"self", "ОО (самооценка)"},
	{"municipal", "муниципалитет"},
	{"regional_import", "региональная загрузка"},
	{"bonus", "Стимулирующая выплата"},
	{"training_referral", "Направление на обучение"},
	{"reserve_inclusion", "Включение в кадровый резерв"},
	{"commendation", "Поощрение"},
	{"warning", "Предупреждение"},
	{"attestation_referral", "Направление на аттестацию"},
	{"contract_extension", "Продление контракта"},
	{"contract_termination_proposal", "Предложение о прекращении контракта"},
	{"decline_total", "Итоговый балл снижается две кампании подряд"},
	{"decline_direction", "Балл направления снижается две кампании подряд"},
	{"below_threshold", "Итоговый балл ниже порога"},
	{"low_completeness", "Неполные данные"},
	{"draft", "черновик"},
	{"management", "управленческая практика"},
	{"contingent", "контингент и сеть"},
	{"exam_results", "результаты ГИА"},
	{"objectivity_marker", "маркер объективности"},
	{"vpr_raw", "первичные результаты ВПР"},
	{"staff", "кадры"},
	{"other", "прочее"},
	{"school", "общеобразовательные"},
	{"preschool", "дошкольные"},
	{"additional", "дополнительного образования"},
	{"vocational", "профессиональные"},
	{"special", "для обучающихся с ОВЗ"},
	{"urban", "городские"},
	{"rural", "сельские"},
	{"small", "малые"},
	{"medium", "средние"},
	{"large", "крупные"},
	{"open", "идёт сбор данных"},
	{"closed", "сбор завершён"},
	{"published", "опубликована"},
	{"no previous campaign", "предыдущей кампании нет"},
	{"no head with a total in both campaigns had a recommendation accepted or took part in a "
	 "milestone",
	 "ни у одного руководителя с итоговым баллом в обеих кампаниях не было принятой "
	 "рекомендации или участия в мероприятии"},
	{"every head with a total in both campaigns had a recommendation accepted or took part in a "
	 "milestone",
	 "у каждого руководителя с итоговым баллом в обеих кампаниях была принятая "
	 "рекомендация или участие в мероприятии"},
	{NULL, NULL}};

const char *report_name_of(const char *code)
{
	for (const struct label *l = NAMES; code && l->path; l++)
		if (strcmp(l->path, code) == 0)
			return l->text;
	return code ? code : "";
}
